/** The admin key: HCP_ADMIN_KEY, or for a quick start one generated once and kept in the data folder (mode 0600). */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { IdGenerator } from '../infra/ids.ts';

export const resolveAdminKey = async (configured: string | undefined, dataDir: string, ids: IdGenerator) => {
  if (configured) return { key: configured, source: 'HCP_ADMIN_KEY' as const };
  const file = path.resolve(dataDir, 'admin-key');
  const stored = await readFile(file, 'utf8').then((t) => t.trim(), () => undefined);
  if (stored) return { key: stored, source: file };
  const key = `hcp_admin_${ids.secret(32)}`;
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  return { key, source: file };
};
