// Loopback ports for the local stack. Where the program is ours (inference nodes), the
// launcher binds the socket itself, port 0 when any will do, reads the port back and hands
// the listening socket to the child (cli/supervise.ts): no window in which another process
// can take the port. wrangler dev only takes a port number, so its ports are probed.
import { createServer, type Server } from "node:net";

export class PortInUseError extends Error {
  readonly port: number;
  constructor(port: number) {
    super(`port ${port} is already in use (another dart serve or wrangler dev?): stop it, or choose another port with --port or PORT`);
    this.name = "PortInUseError";
    this.port = port;
  }
}

/** A server listening on 127.0.0.1:`port` (0: any free port); PortInUseError when it is taken. */
export function listenLoopback(port = 0): Promise<Server> {
  return new Promise((res, rej) => {
    // Connections that reach it before a child takes it over are closed: the launcher serves nothing.
    const srv = createServer((socket) => socket.destroy());
    srv.once("error", (e: NodeJS.ErrnoException) => rej(e.code === "EADDRINUSE" ? new PortInUseError(port) : e));
    srv.listen({ port, host: "127.0.0.1", exclusive: true }, () => res(srv));
  });
}

export function portOf(srv: Server): number {
  const addr = srv.address();
  return typeof addr === "object" && addr ? addr.port : 0;
}

/** Throws PortInUseError now, before anything starts, when 127.0.0.1:`port` is taken. */
export async function assertPortFree(port: number): Promise<void> {
  const srv = await listenLoopback(port);
  await new Promise((r) => srv.close(r));
}

/**
 * A port that was free a moment ago, for programs that only take a number (wrangler dev).
 * Another process may take it before the program binds it; prefer listenLoopback.
 */
export async function freePort(): Promise<number> {
  const srv = await listenLoopback(0);
  const port = portOf(srv);
  await new Promise((r) => srv.close(r));
  return port;
}
