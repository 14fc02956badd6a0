//! venus-seal
