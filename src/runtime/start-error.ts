/** Start-up failures the user can act on: the CLI prints their message alone, without a stack. */
export class HostStartError extends Error {
  override name = "HostStartError";
}

/** What a failed `listen` means for the user (a busy port, a privileged one), or the error itself. */
export function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  switch (error.code) {
    case "EADDRINUSE":
      return new HostStartError(`Port ${port} is in use (another Shire host?): stop it or pass --port <n>.`);
    case "EACCES":
      return new HostStartError(
        `Port ${port} needs privileges this user does not have: pass --port <n> (1024 or above).`,
      );
    case "EADDRNOTAVAIL":
      return new HostStartError(`Cannot listen on ${host}:${port}: the address is not on this machine.`);
    default:
      return error;
  }
}
