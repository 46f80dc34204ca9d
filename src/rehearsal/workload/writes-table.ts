// The table the rehearsal's write load journals into, one definition per engine for the seeded demo and for an
// adopted database alike (no unique token: a write applied twice stays visible as two rows).
export const PG_WRITES_TABLE = `CREATE TABLE IF NOT EXISTS public.rehearsal_writes (
  id bigserial PRIMARY KEY,
  token text NOT NULL,
  n bigint,
  written_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`;

export const PG_WRITES_INDEX = 'CREATE INDEX IF NOT EXISTS rehearsal_writes_token_idx ON public.rehearsal_writes (token)';

export const MY_WRITES_TABLE = `CREATE TABLE IF NOT EXISTS rehearsal_writes (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  token VARCHAR(100) NOT NULL,
  n BIGINT NULL,
  written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY rehearsal_writes_token_idx (token)
) ENGINE=InnoDB`;
