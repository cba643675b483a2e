// The --weights f32|q8_0 flag of generate and eval (bench takes a list of them), and --quant of serve.
import { WEIGHT_FORMATS, type WeightFormat } from "../shared/engine/quantize-weights.ts";
import { UsageError } from "./usage.ts";

export const weightsUsage = `--weights q8_0 holds the weights in Q8_0 and runs integer kernels (a GGUF file's q8_0 tensors as they are).`;

export function weightsFlag(value: string | undefined, flag = "--weights"): WeightFormat {
  const f = (value ?? "f32") as WeightFormat;
  if (!WEIGHT_FORMATS.includes(f)) throw new UsageError(`unknown ${flag} "${value}": use ${WEIGHT_FORMATS.join(" or ")}`);
  return f;
}
