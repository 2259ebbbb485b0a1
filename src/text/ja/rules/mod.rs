//! Rule tables of Open JTalk 1.11 (as bundled in pyopenjtalk 0.4.1), generated from its UTF-8 rule
//! headers. Open JTalk is BSD-3-Clause, Copyright (c) 2008-2016 Nagoya Institute of Technology.

pub(crate) mod digit;
pub(crate) mod mora;
pub(crate) mod pronunciation;
pub(crate) mod text2mecab;
