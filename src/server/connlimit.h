/*
 * connlimit.h — open connections per client address, shared by every
 * worker (nginx limit_conn). Entries exist only while a client has a
 * counted connection; the table is sized for --max-clients (cl_table_new)
 * and lives as long as the server (connections outlive reloads). A shard
 * that is full anyway refuses (cl_acquire false: the client gets 503).
 */
#ifndef VEX_SERVER_CONNLIMIT_H
#define VEX_SERVER_CONNLIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cl_table cl_table;

cl_table *cl_table_new(uint32_t capacity);      /* NULL: out of memory */
void cl_table_free(cl_table *t);
/* One more connection of key unless it has max already: true if counted. */
bool cl_acquire(cl_table *t, const uint8_t key[16], uint32_t max);
void cl_release(cl_table *t, const uint8_t key[16]);
/* The client key of an address: IPv4 whole, IPv6 its /64. */
void cl_key(const uint8_t addr[16], uint8_t key[16]);

#endif
