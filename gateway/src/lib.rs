//! The kyso remote-signing gateway: one API for portals, one adapter per CA.
