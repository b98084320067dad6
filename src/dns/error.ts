// A failed lookup, named by the errno djb's resolver leaves behind, so errorText() gives the same
// words as 0.88 (`timed out`, `temporary failure`, `protocol error`, `connection refused`).
export class DnsError extends Error {
  readonly code: string;
  constructor(code: string, message?: string) {
    super(message ?? code);
    this.name = 'DnsError';
    this.code = code;
  }
}

/** A DnsError for anything thrown by a socket or file operation (keeps its errno code). */
export function asDnsError(err: unknown): DnsError {
  if (err instanceof DnsError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  return new DnsError(typeof code === 'string' ? code : 'EIO', (err as Error)?.message);
}
