//! FPT-CA eSignCloud adapter for the kyso gateway.
