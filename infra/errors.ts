/**
 * The errors HCP expects and answers precisely (bad input, auth, a domain rejection, a limit): each
 * names its kind in `type`, and read-api/errors.ts gives each kind its public face in one table.
 * Anything else that reaches a caller is unexpected: masked, and logged.
 */
export abstract class HcpError extends Error {
  abstract readonly type: string;
}
