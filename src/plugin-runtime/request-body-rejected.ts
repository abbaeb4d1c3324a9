/**
 * Thrown by a request body filter that answers the client itself (a plugin that read
 * the body and refuses it): the upload to the upstream is abandoned and this response
 * goes to the client instead, through the response phases, when no byte of another
 * response went out yet.
 */
export class RequestBodyRejected extends Error {
  constructor(readonly status: number, readonly headers: Record<string, string>, readonly body: Buffer, reason: string) {
    super(reason);
    this.name = 'RequestBodyRejected';
  }
}
