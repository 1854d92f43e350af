//! A stateful simulator of a QĐ 769 CA and of the NEAC eSign gateway, with a real test PKI.
