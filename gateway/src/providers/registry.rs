//! The adapter registry: the one table where a provider's `kind` maps to its adapter's
//! settings type and constructor (each adapter crate's [`AdapterFactory`]).
//!
//! [`adapter_registry!`] turns the table into [`AdapterSettings`], an enum with one variant
//! per kind, parsed from a provider entry by its `kind` field (the kind strings are the
//! factories' own `KIND`, not repeated here), and into the functions that dispatch on it.
//! Adding a CA is one line in the table.

use std::sync::Arc;

use kyso_adapter_core::{AdapterDescriptor, CaAdapter, Capabilities, SettingsError};
use kyso_adapter_http::{AdapterFactory, CaHttp};
use serde::de::{Deserialize, Deserializer, Error as _};

macro_rules! adapter_registry {
    ($($(#[$doc:meta])* $variant:ident => $factory:ty,)*) => {
        /// A provider's adapter and its own settings, chosen by the entry's `kind`.
        #[derive(Debug, Clone)]
        pub enum AdapterSettings {
            $($(#[$doc])* $variant(<$factory as AdapterFactory>::Settings),)*
        }

        impl AdapterSettings {
            /// Every `kind` a provider may have.
            pub const KINDS: &'static [&'static str] = &[$(<$factory as AdapterFactory>::KIND),*];

            /// The `kind` of these settings.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$factory as AdapterFactory>::KIND,)*
                }
            }

            /// What the adapter supports unless configuration overrides it.
            pub fn default_capabilities(&self) -> Capabilities {
                match self {
                    $(Self::$variant(_) => <$factory as AdapterFactory>::default_capabilities(),)*
                }
            }

            /// The adapter these settings describe.
            pub fn build(
                &self,
                descriptor: AdapterDescriptor,
                http: CaHttp,
            ) -> Result<Arc<dyn CaAdapter>, SettingsError> {
                match self {
                    $(Self::$variant(settings) => {
                        <$factory as AdapterFactory>::build(descriptor, settings.clone(), http)
                    })*
                }
            }

            /// Parses the settings of the adapter of `kind` from the entry's other fields.
            fn parse(kind: &str, fields: serde_norway::Value) -> Result<Self, String> {
                $(
                    if kind == <$factory as AdapterFactory>::KIND {
                        return serde_norway::from_value(fields)
                            .map(Self::$variant)
                            .map_err(|error| error.to_string());
                    }
                )*
                Err(format!(
                    "unknown kind {kind:?}; expected one of {}",
                    Self::KINDS.join(", ")
                ))
            }
        }
    };
}

adapter_registry! {
    /// VNPT SmartCA, sp769 API.
    VnptSmartca => kyso_adapter_vnpt::VnptKind,
    /// A CA that follows the national QĐ 769 protocol as is (BKAV, CA2, Vina-CA, ...).
    Qd769 => kyso_adapter_qd769::Qd769Kind,
    /// A CA reached through the national NEAC eSign gateway (`sign_v2`, `ca_name`).
    Neac => kyso_adapter_qd769::NeacKind,
    /// FPT-CA eSignCloud.
    FptEsigncloud => kyso_adapter_fpt::FptKind,
    /// MISA eSign RemoteSigning.
    MisaEsign => kyso_adapter_misa::MisaKind,
    /// Viettel-CA MySign.
    ViettelMysign => kyso_adapter_viettel::ViettelKind,
    /// A Cloud Signature Consortium API v2 service (Mobile-ID RSSP and others).
    CscV2 => kyso_adapter_csc::CscKind,
}

impl<'de> Deserialize<'de> for AdapterSettings {
    /// The entry's `kind` chooses the adapter; every other field is that adapter's (unknown
    /// fields are refused by the adapter's own settings type).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = serde_norway::Mapping::deserialize(deserializer)?;
        let kind = match fields.remove("kind") {
            Some(serde_norway::Value::String(kind)) => kind,
            Some(_) => return Err(D::Error::custom("kind must be a string")),
            None => return Err(D::Error::missing_field("kind")),
        };
        Self::parse(&kind, serde_norway::Value::Mapping(fields)).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once() {
        let mut kinds = AdapterSettings::KINDS.to_vec();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), AdapterSettings::KINDS.len());
        assert!(kinds.contains(&"vnpt-smartca") && kinds.contains(&"csc-v2"));
    }

    #[test]
    fn a_kind_chooses_its_settings_and_unknown_ones_are_named() {
        let entry = |text: &str| serde_norway::from_str::<AdapterSettings>(text);
        let vnpt =
            entry("kind: vnpt-smartca\nbase_url: http://127.0.0.1:1\nsp_id: a\nsp_password: b\n")
                .unwrap();
        assert_eq!(vnpt.kind(), "vnpt-smartca");
        let unknown = entry("kind: nope\nbase_url: x\n").unwrap_err().to_string();
        assert!(
            unknown.contains("nope") && unknown.contains("vnpt-smartca"),
            "{unknown}"
        );
        let missing = entry("base_url: x\n").unwrap_err().to_string();
        assert!(missing.contains("kind"), "{missing}");
    }
}
