// The real connector: opens the adapter for an engine. The rehearsal cloud uses it too (its servers are real).
import { createMysqlAdapter } from './mysql.js';
import { createPostgresAdapter } from './postgres.js';
import type { DbAdapter, DbConnector, DbEndpoint } from './types.js';

/** Opens the PostgreSQL or the MySQL/MariaDB adapter. */
export const defaultConnector: DbConnector = {
  async open(engine: 'postgres' | 'mysql', endpoint: DbEndpoint): Promise<DbAdapter> {
    switch (engine) {
      case 'postgres':
        return createPostgresAdapter(endpoint);
      case 'mysql':
        return createMysqlAdapter(endpoint);
    }
  },
};
