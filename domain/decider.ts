/**
 * The decider pattern: the whole of an aggregate's behaviour as three pure
 * functions. No I/O, no clock, no randomness: time and ids arrive in the command.
 */
export type Decider<Command, Event, State> = {
  initialState: () => State;
  evolve: (state: State, event: Event) => State;
  decide: (command: Command, state: State) => Decision<Event>;
};

/** Why a command was refused: a stable code for programs, a sentence for people, the field when one is at fault. */
export type Rejection = {
  code: RejectionCode;
  message: string;
  field?: string;
};

export type RejectionCode =
  | 'not_found'
  | 'already_exists'
  | 'invalid_state'
  | 'quota_exceeded'
  | 'budget_exceeded'
  | 'sla_infeasible'
  | 'forbidden'
  | 'invalid_input';

export type Decision<Event> =
  | { type: 'accepted'; events: Event[] }
  | { type: 'rejected'; rejection: Rejection };

export const accept = <E>(...events: E[]): Decision<E> => ({ type: 'accepted', events });

export const reject = <E = never>(code: RejectionCode, message: string, field?: string): Decision<E> => ({
  type: 'rejected',
  rejection: field === undefined ? { code, message } : { code, message, field },
});

/** A domain event as the deciders see it: a literal type and its data. */
export type DomainEvent<Type extends string, Data extends Record<string, unknown>> = { type: Type; data: Data };

export const fold = <C, E, S>(decider: Decider<C, E, S>, events: readonly E[]): S =>
  events.reduce(decider.evolve, decider.initialState());
