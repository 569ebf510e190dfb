//! The PostgreSQL store's saga tables (see [`SagaStore`](crate::store::SagaStore)), created by
//! migration 6 in [`super::schema`], in the store's schema and with its table prefix.

use super::schema;

/// The quoted names of the saga tables and their indexes.
#[derive(Debug)]
pub(crate) struct Tables {
    positions: String,
    instances: String,
    keys: String,
    commands: String,
    deadlines: String,
    /// Index names: quoted, without the schema (an index lives in its table's).
    keys_by_instance: String,
    commands_in_order: String,
    commands_by_id: String,
    deadlines_by_due: String,
    deadlines_by_id: String,
    deadlines_by_instance: String,
}

impl Tables {
    /// The names, from the store's `table` names (schema-qualified, prefixed) and the
    /// table prefix.
    pub(super) fn new(table: impl Fn(&str) -> String, prefix: &str) -> Self {
        let index = |name: &str| schema::quote_ident(&format!("{prefix}{name}"));
        Self {
            positions: table("saga_positions"),
            instances: table("saga_instances"),
            keys: table("saga_keys"),
            commands: table("saga_commands"),
            deadlines: table("saga_deadlines"),
            keys_by_instance: index("saga_keys_by_instance"),
            commands_in_order: index("saga_commands_in_order"),
            commands_by_id: index("saga_commands_by_id"),
            deadlines_by_due: index("saga_deadlines_by_due"),
            deadlines_by_id: index("saga_deadlines_by_id"),
            deadlines_by_instance: index("saga_deadlines_by_instance"),
        }
    }

    /// Migration 6: each saga's position; its instances (state and version) and their
    /// association keys (one instance per key); the commands decided and not yet sent, in the
    /// order decided (`seq`); the pending deadlines, due in microseconds since the epoch,
    /// found by due time (ties in the order set).
    pub(super) fn migration(&self) -> String {
        format!(
            "
        CREATE TABLE {positions} (
            saga     text   PRIMARY KEY,
            position bigint NOT NULL
        );
        CREATE TABLE {instances} (
            saga    text   NOT NULL,
            id      text   NOT NULL,
            state   bytea  NOT NULL,
            version bigint NOT NULL,
            PRIMARY KEY (saga, id)
        );
        CREATE TABLE {keys} (
            saga     text NOT NULL,
            key      text NOT NULL,
            instance text NOT NULL,
            PRIMARY KEY (saga, key)
        );
        CREATE INDEX {keys_by_instance} ON {keys} (saga, instance);
        CREATE TABLE {commands} (
            seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            saga     text   NOT NULL,
            id       text   NOT NULL,
            instance text   NOT NULL,
            name     text   NOT NULL,
            payload  bytea  NOT NULL
        );
        CREATE INDEX {commands_in_order} ON {commands} (saga, seq);
        CREATE INDEX {commands_by_id} ON {commands} (saga, id);
        CREATE TABLE {deadlines} (
            seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            saga     text   NOT NULL,
            id       text   NOT NULL,
            instance text   NOT NULL,
            name     text   NOT NULL,
            payload  bytea  NOT NULL,
            due      bigint NOT NULL
        );
        CREATE INDEX {deadlines_by_due} ON {deadlines} (saga, due);
        CREATE INDEX {deadlines_by_id} ON {deadlines} (saga, id);
        CREATE INDEX {deadlines_by_instance} ON {deadlines} (saga, instance, name);
        ",
            positions = self.positions,
            instances = self.instances,
            keys = self.keys,
            commands = self.commands,
            deadlines = self.deadlines,
            keys_by_instance = self.keys_by_instance,
            commands_in_order = self.commands_in_order,
            commands_by_id = self.commands_by_id,
            deadlines_by_due = self.deadlines_by_due,
            deadlines_by_id = self.deadlines_by_id,
            deadlines_by_instance = self.deadlines_by_instance,
        )
    }
}
