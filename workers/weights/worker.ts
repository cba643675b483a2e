// The weights Worker: serves the R2 weights bucket over HTTP (see route.ts).
// The gateway can mount handleWeightsRequest instead; this entry runs it alone.
import { handleWeightsRequest, type WeightsEnv } from "./route.ts";

export default {
  fetch(request: Request, env: WeightsEnv): Promise<Response> {
    return handleWeightsRequest(request, env);
  },
};
