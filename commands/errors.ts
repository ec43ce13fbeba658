import type { Rejection } from '../domain/decider.ts';
import { HcpError } from '../infra/errors.ts';

/** A command the domain refused: nothing was appended. Carries the rejection to the caller. */
export class CommandRejectedError extends HcpError {
  readonly type = 'command_rejected' as const;
  constructor(readonly rejection: Rejection) {
    super(rejection.message);
    this.name = 'CommandRejectedError';
  }
}
