//! Generic QĐ 769 adapter (BKAV, CA2, Vina-CA, ...) and the upstream NEAC eSign gateway adapter.
