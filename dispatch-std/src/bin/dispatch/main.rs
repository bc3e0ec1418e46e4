//! The `dispatch` command-line tool (being written).

fn main() {}
