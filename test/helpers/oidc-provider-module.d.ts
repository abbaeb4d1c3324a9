// oidc-provider ships no type declarations; the test helper uses a small part of it.
declare module 'oidc-provider' {
  const Provider: new (issuer: string, configuration: Record<string, unknown>) => {
    callback(): (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;
    on(event: string, listener: (ctx: unknown, err: Error) => void): void;
  };
  export default Provider;
}
