//! The model lifecycle as library calls: what `riskloop demo` runs end to end, and re-deciding
//! stored decisions with what made them.

pub mod build; // raw files → dataset → bundle → registered (and champion), as calls
pub mod outcomes; // a reported outcome checked against the stored decisions (API and import)
pub mod replay; // a stored decision decided again with its stored model and policy
pub mod retrain; // decisions ⋈ outcomes → challenger → judged on recent decisions → promoted or not
