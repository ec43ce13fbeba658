/**
 * Group commit for `handleTogether`: callers that ask while an append of theirs is in flight wait
 * for it, and then all of them go in one append. Under load that is one round trip and one commit
 * for many requests instead of one each, and in one process it ends the conflicts between
 * concurrent requests on one stream (two clients of one customer submitting at once conflicted on
 * the customer's stream about one time in eight, and each conflict cost the slow path's three
 * round trips). Unloaded, a request finds nothing in flight and goes at once, alone.
 *
 * A group is all or none (handleTogether's rule): when it is not plainly possible (a refusal, a
 * repeat, a stale cache), each request of the group is tried alone, so one request never sends
 * another to the slow path.
 */
import type { EventStore } from '../infra/event-store/types.ts';
import { handleTogether, type CommandOnStream } from './handle.ts';

type Answers = Awaited<ReturnType<typeof handleTogether>>;
type Request = { commands: readonly CommandOnStream[]; settle: (answers: Promise<Answers>) => void };

/** How many requests one append takes at most (its statement carries every event as JSON). */
const MAX_GROUP = 64;

const groups = new WeakMap<EventStore, (commands: readonly CommandOnStream[]) => Promise<Answers>>();

const groupCommitter = (store: EventStore) => {
  const waiting: Request[] = [];
  let inFlight = false;
  const run = async (group: Request[]) => {
    const alone = async (r: Request) => {
      const answers = handleTogether(store, r.commands);
      r.settle(answers);
      await answers.catch(() => undefined);
    };
    if (group.length === 1) return alone(group[0]!);
    let together: Answers;
    try {
      together = await handleTogether(store, group.flatMap((r) => r.commands));
    } catch (error) {
      for (const r of group) r.settle(Promise.reject(error));
      return;
    }
    if (together) {
      let at = 0;
      for (const r of group) {
        r.settle(Promise.resolve(together.slice(at, at + r.commands.length)));
        at += r.commands.length;
      }
      return;
    }
    // one of them could not go together with the others: each on its own, one after another
    // (at once they would conflict on their shared streams again)
    for (const r of group) await alone(r);
  };
  const next = async () => {
    inFlight = true;
    while (waiting.length > 0) {
      await run(waiting.splice(0, MAX_GROUP));
    }
    inFlight = false;
  };
  return (commands: readonly CommandOnStream[]) =>
    new Promise<Answers>((resolve, reject) => {
      waiting.push({ commands, settle: (answers) => answers.then(resolve, reject) });
      if (!inFlight) void next();
    });
};

/**
 * `handleTogether`, grouped with the other requests waiting on the same store: the answers for
 * these commands, or undefined when they could not go together (the caller then handles each).
 */
export const handleTogetherGrouped = (store: EventStore, commands: readonly CommandOnStream[]): Promise<Answers> => {
  let commit = groups.get(store);
  if (!commit) groups.set(store, (commit = groupCommitter(store)));
  return commit(commands);
};
