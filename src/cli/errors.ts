/** An error the CLI reports as one line (no stack trace) and exits non-zero. */
export class CliError extends Error {
  override name = 'CliError';
}
