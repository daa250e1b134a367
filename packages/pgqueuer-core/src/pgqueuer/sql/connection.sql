-- name: server_identity
-- Where this connection actually landed: the server's address (NULL over a unix socket),
-- port, socket directories, database and user, for honest labels in messages and headers.
SELECT host(inet_server_addr()) AS address,
       coalesce(inet_server_port(), current_setting('port')::int) AS port,
       current_setting('unix_socket_directories') AS sockets,
       current_database() AS database,
       current_user AS username
