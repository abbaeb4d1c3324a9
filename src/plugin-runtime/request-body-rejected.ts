/**
 * Thrown by a request body filter that answers the client itself (a plugin that read
 * the body and refuses it): the upload to the upstream is abandoned and this response
 * goes to the client instead, through the response phases, when no byte of another
 * response went out yet.
 */
export class RequestBodyRejected extends Error {
  /** The plugin whose filter answered (for `$plugin_responded` and gatehouse_plugin_responses_total), once known. */
  plugin: string | undefined;
  constructor(readonly status: number, readonly headers: Record<string, string>, readonly body: Buffer, reason: string) {
    super(reason);
    this.name = 'RequestBodyRejected';
  }
}
