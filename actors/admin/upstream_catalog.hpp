// upstream_catalog.hpp: the publications a walmux node serves, as psql's
// \dRp and a DBA's queries read them: pg_publication and
// pg_publication_tables, PostgreSQL 15's columns.
//
// Publications are defined on the upstream, so each query reads them there
// (a libpq session of its own, in the SQL session's detached thread), and
// shows those the node streams (upstream_publications): what a subscriber
// of the node can name. A node without an upstream (apply only) serves
// none. An upstream that cannot be reached is the query's error (08006).
#pragma once

#include "actors/admin/admin_catalog.hpp"

namespace walmux::actors::admin {

// Adds pg_publication and pg_publication_tables to `c`.
// REQUIRES: `env` outlives the catalog.
void add_upstream_catalog(node_catalog& c, walsender_env& env);

} // namespace walmux::actors::admin
