/** A rule that lua-resty-expr would refuse at `expr.new`; the message follows its wording. */
export class ExprError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ExprError';
  }
}
