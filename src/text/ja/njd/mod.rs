//! Open JTalk's NJD word list and the text-analysis passes that pyopenjtalk's `run_frontend` applies
//! after MeCab (`njd_set_pronunciation`, `njd_set_digit`, `njd_set_accent_phrase`,
//! `njd_set_accent_type`). `njd_set_unvoiced_vowel` is left out on purpose: it only marks vowels as
//! unvoiced (upper case in the labels), which `japanese.py` lower-cases again, so it cannot change the
//! phones. `njd_set_long_vowel` is disabled (`#if 1 return`) in Open JTalk 1.11 itself.

mod accent_phrase;
mod accent_type;
mod digit;
mod node;
mod pronunciation;

pub(crate) use node::NjdNode;

/// A node id in [`Njd`]'s arena.
pub(crate) type NodeId = usize;

struct Entry {
    node: NjdNode,
    prev: Option<NodeId>,
    next: Option<NodeId>,
}

/// Mirrors `NJD`: a doubly linked word list. Removed nodes stay in the arena, unlinked, so ids stay valid.
#[derive(Default)]
pub(crate) struct Njd {
    entries: Vec<Entry>,
    head: Option<NodeId>,
    tail: Option<NodeId>,
}

impl Njd {
    /// `mecab2njd`: one node per MeCab line (more for chained dictionary words).
    pub(crate) fn from_mecab(lines: &[String]) -> Self {
        let mut njd = Njd::default();
        for line in lines {
            for node in NjdNode::from_feature(line) {
                njd.push(node);
            }
        }
        njd
    }

    /// The frontend passes of pyopenjtalk's `run_frontend` that influence the labels.
    pub(crate) fn analyze(&mut self) {
        pronunciation::set_pronunciation(self);
        digit::set_digit(self);
        accent_phrase::set_accent_phrase(self);
        accent_type::set_accent_type(self);
    }

    /// `NJD_push_node`.
    pub(crate) fn push(&mut self, node: NjdNode) -> NodeId {
        let id = self.entries.len();
        self.entries.push(Entry { node, prev: self.tail, next: None });
        match self.tail {
            Some(tail) => self.entries[tail].next = Some(id),
            None => self.head = Some(id),
        }
        self.tail = Some(id);
        id
    }

    pub(crate) fn head(&self) -> Option<NodeId> {
        self.head
    }

    pub(crate) fn tail(&self) -> Option<NodeId> {
        self.tail
    }

    pub(crate) fn next(&self, id: NodeId) -> Option<NodeId> {
        self.entries.get(id).and_then(|entry| entry.next)
    }

    pub(crate) fn prev(&self, id: NodeId) -> Option<NodeId> {
        self.entries.get(id).and_then(|entry| entry.prev)
    }

    /// The node `id` (ids only ever come from this list).
    pub(crate) fn node(&self, id: NodeId) -> &NjdNode {
        &self.entries[id].node
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut NjdNode {
        &mut self.entries[id].node
    }

    /// `NJD_remove_node`: unlinks `id` and returns the node after it.
    pub(crate) fn remove(&mut self, id: NodeId) -> Option<NodeId> {
        let (prev, next) = (self.prev(id), self.next(id));
        match prev {
            Some(p) => self.entries[p].next = next,
            None => self.head = next,
        }
        match next {
            Some(n) => self.entries[n].prev = prev,
            None => self.tail = prev,
        }
        next
    }

    /// `NJDNode_insert(node, node->next, new)`: links `node` right after `after`; returns its id.
    pub(crate) fn insert_after(&mut self, after: NodeId, node: NjdNode) -> NodeId {
        let id = self.entries.len();
        let next = self.next(after);
        self.entries.push(Entry { node, prev: Some(after), next });
        self.entries[after].next = Some(id);
        match next {
            Some(n) => self.entries[n].prev = Some(id),
            None => self.tail = Some(id),
        }
        id
    }

    /// `NJD_remove_silent_node`: drops every node whose pronunciation is unset.
    pub(crate) fn remove_silent_nodes(&mut self) {
        let mut cursor = self.head;
        while let Some(id) = cursor {
            cursor = if self.node(id).pron() == "*" { self.remove(id) } else { self.next(id) };
        }
    }

    /// The linked nodes in order.
    pub(crate) fn ids(&self) -> Vec<NodeId> {
        let mut ids = Vec::new();
        let mut cursor = self.head;
        while let Some(id) = cursor {
            ids.push(id);
            cursor = self.next(id);
        }
        ids
    }

    /// Iterates over the linked nodes in order.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = &NjdNode> + '_ {
        self.ids().into_iter().map(move |id| self.node(id))
    }
}
