-- +goose Up
-- Server-owned keys live apart from client keys. The order service sends an
-- order's letter with order_id set and a key it derives from the order; a
-- client sends letters without order_id and keys of its own choosing. With
-- one (user_id, request_id) namespace a client letter stored first under the
-- order's key was taken for the order's letter. Now a letter about an order
-- is keyed by the order, and a client letter by its recipient, so neither
-- kind of key can reach a letter of the other kind.
ALTER TABLE notifications DROP CONSTRAINT notifications_user_request_key;

-- Letters about an order: one letter per (order, key), whoever the
-- recipient claims to be, so a second recipient cannot attach itself to the
-- order's key. NULL keys never conflict.
CREATE UNIQUE INDEX notifications_order_request_key ON notifications (order_id, request_id)
    WHERE order_id IS NOT NULL;

-- Client letters: keys are scoped per recipient, as before.
CREATE UNIQUE INDEX notifications_user_request_key ON notifications (user_id, request_id)
    WHERE order_id IS NULL;

-- +goose Down
DROP INDEX notifications_user_request_key;
DROP INDEX notifications_order_request_key;
ALTER TABLE notifications ADD CONSTRAINT notifications_user_request_key UNIQUE (user_id, request_id);
