// The RDS replication procedures on the rehearsal's MariaDB servers, as RDS/Aurora MySQL offer them to the master
// user: mysql.rds_set_external_source/_master point the server at another one's binlog file and position,
// rds_start_replication/rds_stop_replication run and stop it, rds_reset_external_source/_master forget it.
// Stored procedures (SQL SECURITY DEFINER, owned by the cloud's admin) wrapping CHANGE MASTER TO and
// START/STOP SLAVE, so the native strategy calls exactly what it calls on AWS.
import type { Connection } from 'mysql2/promise';

const myLiteral = (value: string): string => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The servers have no TLS: ssl_encryption = 1 (what rekey passes on AWS) is recorded in
 * mysql.rekey_external_source so a test can see it was asked for, and the connection is made without it.
 */
export async function installReplicationProcedures(c: Connection, admin: string): Promise<void> {
  const definer = `${myLiteral(admin)}@'%'`;
  await c.query(
    'CREATE TABLE IF NOT EXISTS mysql.rekey_external_source (id TINYINT PRIMARY KEY, host VARCHAR(255), port INT, user VARCHAR(255), log_file VARCHAR(255), log_pos BIGINT, ssl_encryption INT, set_at TIMESTAMP(6) NULL)',
  );
  for (const name of ['rds_set_external_source', 'rds_set_external_master']) {
    await c.query(`DROP PROCEDURE IF EXISTS mysql.${name}`);
    await c.query(
      `CREATE DEFINER = ${definer} PROCEDURE mysql.${name}(IN host_name VARCHAR(255), IN host_port INT, IN replication_user_name VARCHAR(255),
         IN replication_user_password VARCHAR(255), IN binary_log_file_name VARCHAR(255), IN binary_log_file_location BIGINT, IN ssl_encryption INT)
       SQL SECURITY DEFINER
       BEGIN
         SET @rekey_change_master = CONCAT('CHANGE MASTER TO MASTER_HOST = ', QUOTE(host_name), ', MASTER_PORT = ', host_port,
           ', MASTER_USER = ', QUOTE(replication_user_name), ', MASTER_PASSWORD = ', QUOTE(COALESCE(replication_user_password, '')),
           ', MASTER_LOG_FILE = ', QUOTE(binary_log_file_name), ', MASTER_LOG_POS = ', binary_log_file_location,
           ', MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = no');
         PREPARE rekey_stmt FROM @rekey_change_master;
         EXECUTE rekey_stmt;
         DEALLOCATE PREPARE rekey_stmt;
         SET @rekey_change_master = NULL;
         REPLACE INTO mysql.rekey_external_source VALUES (1, host_name, host_port, replication_user_name, binary_log_file_name, binary_log_file_location, ssl_encryption, NOW(6));
       END`,
    );
  }
  for (const [name, body] of [
    ['rds_start_replication', 'START SLAVE'],
    ['rds_stop_replication', 'STOP SLAVE'],
    ['rds_reset_external_source', 'BEGIN STOP SLAVE; RESET SLAVE ALL; DELETE FROM mysql.rekey_external_source; END'],
    ['rds_reset_external_master', 'BEGIN STOP SLAVE; RESET SLAVE ALL; DELETE FROM mysql.rekey_external_source; END'],
  ] as const) {
    await c.query(`DROP PROCEDURE IF EXISTS mysql.${name}`);
    await c.query(`CREATE DEFINER = ${definer} PROCEDURE mysql.${name}() SQL SECURITY DEFINER ${body}`);
  }
}
