// A client Worker for the non-streamed abort test (test/serving/nonstreamed-abort.test.ts): the
// official openai client, running in workerd and reaching the gateway through a service binding.
// workerd's HTTP/1.1 server does not notice a client closing its socket while the response is
// pending, so a disconnect from a Node client never cancels a request there; cancelling a
// service-binding fetch does, as Cloudflare's front line does when a client goes away.
import OpenAI from "openai";

interface Env {
  GATEWAY: { fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> };
}

interface Order {
  apiKey: string;
  model: string;
  maxTokens: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export default {
  /** Opens a session, starts a long non-streamed turn on it, aborts it once the session is busy. */
  async fetch(request: Request, env: Env): Promise<Response> {
    const { apiKey, model, maxTokens } = (await request.json()) as Order;
    const gatewayFetch = (input: string | URL | Request, init?: RequestInit) => env.GATEWAY.fetch(input, init);
    const client = new OpenAI({ apiKey, baseURL: "http://gateway/v1", maxRetries: 0, fetch: gatewayFetch });
    const first = await client.chat.completions.create({ model, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 4 });
    const session = (first as unknown as { session_id: string }).session_id;

    const ctl = new AbortController();
    const long = { model, messages: [{ role: "user" as const, content: "The little bird" }], max_tokens: maxTokens, temperature: 1, seed: 7, session_id: session };
    const pending = client.chat.completions.create(long as OpenAI.ChatCompletionCreateParamsNonStreaming, { signal: ctl.signal }).then(
      () => "completed",
      (e: unknown) => (e instanceof Error ? e.name : String(e)),
    );
    // Abort once the node runs the turn: the session answers 409 session_busy meanwhile.
    let busy = false;
    for (let t = 0; t < 100 && !busy; t++) {
      await sleep(50);
      const probe = await gatewayFetch("http://gateway/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "x" }], max_tokens: 1, session_id: session }),
      });
      await probe.body?.cancel();
      busy = probe.status === 409;
    }
    ctl.abort();
    return Response.json({ session, busy, outcome: await pending });
  },
};
