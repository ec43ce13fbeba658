/** `WHERE a = $1 AND b = $2` from the filters that are set; the column names are the caller's constants. */
export const whereEquals = (filters: ReadonlyArray<readonly [column: string, value: unknown]>, params: unknown[] = []) => {
  const clauses: string[] = [];
  for (const [column, value] of filters)
    if (value !== undefined && value !== null && value !== '') {
      params.push(value);
      clauses.push(`${column} = $${params.length}`);
    }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
};
