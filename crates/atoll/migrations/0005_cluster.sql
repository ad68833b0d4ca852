-- Atoll schema, migration 5: what the operator set for each node of the cluster.
-- Reports from the nodes (viewers, load, health) are kept in memory only: they are 2 s old at most.

-- A node of the cluster (an edge, or another origin), by the name it reports with.
CREATE TABLE cluster_node (
    -- The node's name (its node_name setting): [A-Za-z0-9._-]{1,64}.
    name TEXT PRIMARY KEY NOT NULL
        CHECK (length(name) BETWEEN 1 AND 64 AND name NOT GLOB '*[^A-Za-z0-9._-]*'),
    -- Most viewers sent to it (redirects, DNS) while it reports this many; NULL = no cap.
    max_viewers INTEGER CHECK (max_viewers IS NULL OR max_viewers >= 0),
    -- Most egress in Mbit/s it may be sent viewers up to; NULL = no cap.
    max_mbps REAL CHECK (max_mbps IS NULL OR max_mbps >= 0),
    -- Client subnets (CIDR) it serves first, one per line; '' = none.
    subnets TEXT NOT NULL DEFAULT '',
    -- When the operator last changed it.
    updated_utc_ms INTEGER NOT NULL
) STRICT;

-- Facts about this node that outlive a restart, as key = value.
-- 'promoted_utc_ms': when `atoll cluster promote` made this backup origin the writer (it stops
-- following the primary's configuration and takes changes itself).
CREATE TABLE node_setting (
    key TEXT PRIMARY KEY NOT NULL CHECK (length(key) BETWEEN 1 AND 64),
    value TEXT NOT NULL
) STRICT;
