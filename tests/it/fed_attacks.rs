//! The send endpoint against a scriptable fake peer that signs anything with any key.
