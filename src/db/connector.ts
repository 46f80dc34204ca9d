// The real connector: opens the adapter for an engine. The rehearsal cloud uses it too (its servers are real).
import { createPostgresAdapter } from './postgres.js';
import type { DbAdapter, DbConnector, DbEndpoint } from './types.js';

/** Opens PostgreSQL adapters; MySQL is not implemented yet and says so. */
export const defaultConnector: DbConnector = {
  async open(engine: 'postgres' | 'mysql', endpoint: DbEndpoint): Promise<DbAdapter> {
    switch (engine) {
      case 'postgres':
        return createPostgresAdapter(endpoint);
      case 'mysql':
        throw new Error('the MySQL adapter is not yet implemented (src/db/mysql.ts)');
    }
  },
};
