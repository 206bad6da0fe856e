"""The OpenSearch side: connection, index layout (schema), bulk writes, state, scans."""
