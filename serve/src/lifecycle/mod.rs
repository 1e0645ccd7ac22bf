//! The model lifecycle as library calls: what `riskloop demo` runs end to end, and re-deciding
//! stored decisions with what made them.

pub mod build; // raw files → dataset → bundle → registered (and champion), as calls
pub mod replay; // a stored decision decided again with its stored model and policy
