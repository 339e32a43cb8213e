//! Free text (`q`) over the cached licenses without a pass over each license.
//!
//! Every license's [`License::search_text`](lm_protocol::License::search_text) is kept in one
//! contiguous arena, one text after another, so that a search is a single vectorized substring
//! scan ([`memchr::memmem`]) over a few megabytes rather than a hundred thousand separate
//! ones. A change appends the new text and leaves the old one dead in place; when more than
//! half of the arena is dead it is compacted.
//!
//! Someone typing a filter searches for `d`, `de`, `des`, … and back again. The hits of the
//! last few phrases are kept until the next change: a phrase searched again is answered from
//! them, and one that contains an earlier phrase is looked for only in that phrase's hits
//! when they are few.

use crate::inventory::{Slot, SlotSet};
use std::ops::Range;
use std::sync::Mutex;

/// Dead bytes tolerated before compaction, whatever the arena's size.
const COMPACT_AFTER: usize = 1 << 20;

/// Between two texts, so that a word cannot begin in one and end in the next.
const SEPARATOR: u8 = 0;

/// How many phrases' hits are kept.
const RECENT_PHRASES: usize = 8;

/// A phrase containing an earlier one is looked for in each of that one's hits (rather than
/// through the whole arena) when they are at most the texts divided by this.
const NARROW_UP_TO_ONE_IN: usize = 4;

/// The bit of an ASCII lowercase letter or digit, one each.
fn letter_bit(byte: u8) -> Option<u64> {
    match byte {
        b'a'..=b'z' => Some(1 << (byte - b'a')),
        b'0'..=b'9' => Some(1 << (26 + byte - b'0')),
        _ => None,
    }
}

/// Makes room for `additional` more in `vec`, growing it by an eighth rather than doubling
/// it: the arena holds as much text as the cache (17 MB of 100,000 licenses), and doubling
/// left up to half of it empty. (Large buffers grow in place, by `mremap`, not by copying.)
fn grow_by_an_eighth<T>(vec: &mut Vec<T>, additional: usize) {
    if vec.capacity() - vec.len() < additional {
        vec.reserve_exact(additional.max(vec.len() / 8));
    }
}

#[derive(Default)]
pub struct SearchTexts {
    arena: Vec<u8>,
    /// Where each text begins in the arena and whose it is, in arena order; dead texts stay
    /// until the next compaction.
    starts: Vec<(usize, Slot)>,
    /// By slot: the arena range of its live text.
    live: Vec<Option<Range<usize>>>,
    /// By slot: which letters and digits its text holds (see [`letter_bit`]), so that a
    /// one-letter phrase — the first key typed — is answered without reading any text.
    letters: Vec<u64>,
    dead: usize,
    /// The hits of the last phrases searched, newest last; cleared by every change.
    recent: Mutex<Vec<(String, SlotSet)>>,
}

impl SearchTexts {
    /// Keeps `text` as the searchable text of `slot`, replacing any it had.
    pub fn insert(&mut self, slot: Slot, text: &str) {
        self.remove(slot);
        self.forget_recent();
        grow_by_an_eighth(&mut self.arena, text.len() + 1);
        if !self.arena.is_empty() {
            self.arena.push(SEPARATOR);
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(text.as_bytes());
        grow_by_an_eighth(&mut self.starts, 1);
        self.starts.push((start, slot));
        let index = slot as usize;
        if self.live.len() <= index {
            let more = index + 1 - self.live.len();
            grow_by_an_eighth(&mut self.live, more);
            grow_by_an_eighth(&mut self.letters, more);
            self.live.resize(index + 1, None);
            self.letters.resize(index + 1, 0);
        }
        self.live[index] = Some(start..self.arena.len());
        self.letters[index] = text
            .bytes()
            .filter_map(letter_bit)
            .fold(0, |all, bit| all | bit);
    }

    /// Forgets the text of `slot`.
    pub fn remove(&mut self, slot: Slot) {
        if let Some(range) = self.live.get_mut(slot as usize).and_then(Option::take) {
            self.forget_recent();
            self.dead += range.len() + 1;
            if self.dead > COMPACT_AFTER && self.dead > self.arena.len() / 2 {
                self.compact();
            }
        }
    }

    /// Copies the live texts into a fresh arena, in their present order.
    fn compact(&mut self) {
        let mut fresh = SearchTexts {
            arena: Vec::with_capacity(self.arena.len() - self.dead),
            ..SearchTexts::default()
        };
        for &(start, slot) in &self.starts {
            if let Some(range) = self.live_text(start, slot) {
                let text = &self.arena[range];
                // Texts came in as `str`, so each live range is one.
                fresh.insert(slot, std::str::from_utf8(text).unwrap_or_default());
            }
        }
        *self = fresh;
    }

    /// The arena range of the text beginning at `start` if it is still the live one of `slot`.
    fn live_text(&self, start: usize, slot: Slot) -> Option<Range<usize>> {
        self.live
            .get(slot as usize)?
            .clone()
            .filter(|range| range.start == start)
    }

    /// Whether the text of `slot` contains `phrase`.
    pub fn contains(&self, slot: Slot, phrase: &memchr::memmem::Finder<'_>) -> bool {
        self.live
            .get(slot as usize)
            .and_then(Option::as_ref)
            .is_some_and(|range| phrase.find(&self.arena[range.clone()]).is_some())
    }

    /// The heap bytes the texts take: the arena and where each text lies.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + self.starts.capacity() * size_of::<(usize, Slot)>()
            + self.live.capacity() * size_of::<Option<Range<usize>>>()
            + self.letters.capacity() * size_of::<u64>()
    }

    fn forget_recent(&mut self) {
        self.recent
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The slots (below `slots`) whose text contains `phrase` (already lowercased, like the
    /// texts): kept from a recent search, narrowed from the hits of a recent phrase it
    /// contains, or searched for.
    pub fn find(&self, phrase: &str, slots: usize) -> SlotSet {
        // The narrowest few hits of an earlier phrase this one contains, if any.
        let within = {
            let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, hits)) = recent.iter().find(|(earlier, _)| earlier == phrase) {
                return hits.clone();
            }
            recent
                .iter()
                .filter(|(earlier, _)| phrase.contains(earlier.as_str()))
                .map(|(_, hits)| hits)
                .min_by_key(|hits| hits.len())
                .filter(|hits| hits.len() <= self.starts.len() / NARROW_UP_TO_ONE_IN)
                .cloned()
        };
        let hits = match within {
            Some(within) => {
                let finder = memchr::memmem::Finder::new(phrase.as_bytes());
                let mut hits = SlotSet::none(slots);
                for slot in within.iter().filter(|&slot| self.contains(slot, &finder)) {
                    hits.add(slot);
                }
                hits
            }
            None => self.search(phrase, slots),
        };
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_PHRASES {
            recent.remove(0);
        }
        recent.push((phrase.to_owned(), hits.clone()));
        hits
    }

    /// [`SearchTexts::find`] without the recent phrases: through every text.
    fn search(&self, phrase: &str, slots: usize) -> SlotSet {
        let mut hits = SlotSet::none(slots);
        if phrase.is_empty() {
            for (slot, text) in self.live.iter().enumerate() {
                if text.is_some() {
                    hits.add(slot as Slot);
                }
            }
            return hits;
        }
        if let [byte] = phrase.as_bytes()
            && let Some(bit) = letter_bit(*byte)
        {
            for (slot, letters) in self.letters.iter().enumerate() {
                if letters & bit != 0 && self.live[slot].is_some() {
                    hits.add(slot as Slot);
                }
            }
            return hits;
        }
        let finder = memchr::memmem::Finder::new(phrase.as_bytes());
        let mut from = 0;
        // The text a match begins in: the last one starting at or before it. Matches come in
        // arena order, so it only ever moves forward, mostly by one.
        let mut entry = 0;
        while let Some(found) = finder.find(&self.arena[from..]) {
            let at = from + found;
            while self
                .starts
                .get(entry + 1)
                .is_some_and(|&(start, _)| start <= at)
            {
                entry += 1;
            }
            let (start, slot) = self.starts[entry];
            from = match self.live_text(start, slot) {
                Some(text) if at + phrase.len() <= text.end => {
                    hits.add(slot);
                    // One hit per text is all a filter needs.
                    text.end
                }
                // Across a separator: the next match may still begin in this text.
                Some(_) => at + 1,
                // A dead text: nothing in it counts.
                None => self
                    .starts
                    .get(entry + 1)
                    .map_or(self.arena.len(), |next| next.0),
            };
            if from >= self.arena.len() {
                break;
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(texts: &SearchTexts, phrase: &str) -> Vec<Slot> {
        texts.find(phrase, 128).iter().collect()
    }

    #[test]
    fn a_phrase_is_found_in_each_live_text_that_holds_it_once() {
        let mut texts = SearchTexts::default();
        texts.insert(0, "adobe\ncreative cloud");
        texts.insert(1, "jetbrains\nintellij idea");
        texts.insert(2, "adobe\nacrobat\nadobe");
        assert_eq!(found(&texts, "adobe"), [0, 2]);
        assert_eq!(found(&texts, "e"), [0, 1, 2]);
        assert_eq!(found(&texts, "j"), [1]);
        assert_eq!(found(&texts, "\n"), [0, 1, 2], "not a letter: searched");
        assert_eq!(texts.find("adobe", 64).len(), 2);
        assert_eq!(found(&texts, "nothing"), Vec::<Slot>::new());
        let adobe = memchr::memmem::Finder::new("adobe");
        assert!(texts.contains(2, &adobe) && !texts.contains(1, &adobe));
        assert!(!texts.contains(7, &adobe), "no such slot");
        assert_eq!(found(&texts, ""), [0, 1, 2]);
        // Not across two texts.
        assert_eq!(found(&texts, "cloud\0jet"), Vec::<Slot>::new());
        assert_eq!(found(&texts, "cloudjet"), Vec::<Slot>::new());
    }

    #[test]
    fn phrases_typed_key_by_key_and_erased_find_what_a_full_search_does_also_after_changes() {
        let mut texts = SearchTexts::default();
        let words = [
            "design", "desk", "idea", "deskjet", "code", "node", "modest", "ink",
        ];
        for slot in 0..80 {
            texts.insert(
                slot,
                &format!("license {slot}\n{}", words[slot as usize % 8]),
            );
        }
        let everywhere = |texts: &SearchTexts, phrase| -> Vec<Slot> {
            texts.search(phrase, 128).iter().collect()
        };
        // `desk` holds a quarter of the texts: `deskj` is looked for in its hits alone.
        let typed = [
            "d", "de", "des", "desk", "deskj", "desk", "des", "de", "d", "es",
        ];
        for phrase in typed {
            assert_eq!(
                found(&texts, phrase),
                everywhere(&texts, phrase),
                "{phrase}"
            );
        }
        assert_eq!(found(&texts, "deskj").len(), 10);
        // A change forgets the kept hits.
        texts.insert(11, "a new deskjet");
        texts.remove(3);
        for phrase in ["desk", "deskj", "deskjet"] {
            let hits = found(&texts, phrase);
            assert_eq!(hits, everywhere(&texts, phrase), "{phrase}");
            assert!(hits.contains(&11) && !hits.contains(&3), "{phrase}");
        }
    }

    #[test]
    fn a_changed_or_removed_text_is_no_longer_found_also_after_compaction() {
        let mut texts = SearchTexts::default();
        texts.insert(0, "adobe");
        texts.insert(1, "autodesk");
        texts.insert(0, "microsoft");
        assert_eq!(found(&texts, "adobe"), Vec::<Slot>::new());
        assert_eq!(found(&texts, "soft"), [0]);
        texts.remove(1);
        assert_eq!(found(&texts, "desk"), Vec::<Slot>::new());
        assert_eq!(
            found(&texts, "k"),
            Vec::<Slot>::new(),
            "a removed text's letters"
        );
        // Enough churn to compact several times; the survivors are still found.
        let long = "x".repeat(4096);
        for round in 0..1000 {
            texts.insert(2, &format!("{long} round {round}"));
        }
        assert!(texts.arena.len() < 3 * COMPACT_AFTER, "compacted");
        assert_eq!(found(&texts, "round 999"), [2]);
        assert_eq!(found(&texts, "round 998"), Vec::<Slot>::new());
        assert_eq!(found(&texts, "microsoft"), [0]);
    }
}
