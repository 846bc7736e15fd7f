//! Parser snapshots over every file in `fixtures/` (written next).
