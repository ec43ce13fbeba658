/**
 * One process at a time on an embedded data folder: PGlite keeps the whole database (event store
 * included) in that folder and has no lock of its own, so a second process opening it works on
 * a stale copy while writing the same files. `hcp start` and `hcp projections rebuild` on the
 * embedded default take `<data folder>/hcp.lock` (holding their pid) and refuse with a clear
 * message while another live process holds it; a lock left by a process that died is taken over.
 */
import { rmSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

export class DataFolderInUseError extends Error {
  readonly type = 'data_folder_in_use' as const;
  constructor(readonly folder: string, readonly pid: number) {
    super(
      `the data folder ${folder} is in use by process ${pid} (an hcp start?): PGlite allows one process per folder. ` +
        `Stop that process first, or point HCP_DATA_DIR elsewhere.`,
    );
    this.name = 'DataFolderInUseError';
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Takes the folder's lock for this process; resolves to its release. */
export const lockDataFolder = async (folder: string): Promise<() => Promise<void>> => {
  const file = path.join(folder, 'hcp.lock');
  await mkdir(folder, { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      let released = false;
      const release = async () => {
        if (released) return;
        released = true;
        process.off('exit', releaseSync);
        await rm(file, { force: true });
      };
      // a process that exits without releasing (process.exit in a handler) still leaves no lock
      const releaseSync = () => {
        try {
          rmSync(file, { force: true });
        } catch {
          // gone already
        }
      };
      process.on('exit', releaseSync);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new DataFolderInUseError(folder, pid);
      await rm(file, { force: true }); // left by a process that is gone
    }
  }
  throw new Error(`could not take the lock ${file}`);
};
