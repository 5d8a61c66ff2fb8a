// PostgreSQL for the bench itself: is a server there, and drop the bench's own tables afterwards.
// (The store under test brings its own pool.)
import pg from 'pg';

/** True when PostgreSQL answers `SELECT 1` at `url`. @param {string} url */
export async function postgresAnswers(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Drops the session table `table` and its leases table (the bench's own only). @param {string} url @param {string} table */
export async function dropTables(url, table) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS "${table}", "${table}_leases"`);
  } catch {
    // Best effort: the rows expire with their sessions anyway.
  } finally {
    await client.end().catch(() => {});
  }
}
