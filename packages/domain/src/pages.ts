/** Keyset pagination: at most `limit` rows plus whether more follow (fetch `limit + 1`, pass the rows here). */
export function page<T>(rows: T[], limit: number): { items: T[]; hasMore: boolean } {
  return { items: rows.slice(0, limit), hasMore: rows.length > limit };
}
