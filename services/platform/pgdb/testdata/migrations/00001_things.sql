-- +goose Up
CREATE TABLE things (id int PRIMARY KEY, name text NOT NULL, CONSTRAINT things_name_key UNIQUE (name));

-- +goose Down
DROP TABLE things;
