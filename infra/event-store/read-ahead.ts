/**
 * Pages read one ahead: each from the last event of the one before, until a page shorter than
 * `pageSize`. The next page is asked for as soon as one arrives, so the store reads it while the
 * caller works through this one (at most two pages held): an audit replay, a read model's rebuild.
 */
export async function* pagesAhead<E>(read: (last: E | undefined) => Promise<E[]>, pageSize: number): AsyncGenerator<E[]> {
  let next: Promise<E[]> | undefined = read(undefined);
  try {
    while (next) {
      const page: E[] = await next;
      next = page.length < pageSize ? undefined : read(page.at(-1));
      if (page.length > 0) yield page;
    }
  } finally {
    // a caller that stops early leaves the read ahead unawaited: its failure is nobody's
    next?.catch(() => {});
  }
}
