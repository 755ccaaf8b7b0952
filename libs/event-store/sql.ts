import type { DataSource } from 'typeorm';

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The schema the store's tables live in; TypeORM learns the connection's default when it connects. */
export function schemaOf(dataSource: DataSource): string {
  const { schema } = dataSource.driver;
  if (!schema) throw new Error('the event store data source is not initialized: its schema is not known yet');
  return schema;
}

/**
 * A table qualified with the data source's schema. Every statement names its schema rather than relying on
 * search_path, so several stores (tests, tenants) can share one database without seeing each other.
 */
export function qualifiedTable(dataSource: DataSource, table: string): string {
  return `${quoteIdentifier(schemaOf(dataSource))}.${quoteIdentifier(table)}`;
}
