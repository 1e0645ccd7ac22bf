//! Answering the waiting handlers after a commit. A handler waits on a oneshot channel. Sent on
//! from another thread, a oneshot wakes the handler's runtime, and tokio wakes a runtime from
//! outside with a write to its eventfd every time, even when a wake-up is already pending. A
//! commit answers dozens of handlers spread over a few HTTP workers, so the writer, the serial
//! part of every decision, made about one `write` syscall per decision, and each one woke a
//! worker again. So each thread that runs a current-thread runtime (an actix worker) gets an
//! inbox: a channel read by a task on that same thread. The writer posts a commit's answers in
//! one message per inbox, one wake-up at most, and that task completes the oneshots locally,
//! where no syscall is needed.

use std::cell::RefCell;

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::{mpsc, oneshot};

use super::Reply;

/// One answer, and the channel its handler waits on.
type Letter = (oneshot::Sender<Reply>, Reply);
type Inbox = mpsc::UnboundedSender<Vec<Letter>>;

thread_local! {
    static INBOX: RefCell<Option<Inbox>> = const { RefCell::new(None) };
}

/// Where the answer to one submission goes.
#[derive(Debug)]
pub(crate) struct ReplyTo {
    reply: oneshot::Sender<Reply>,
    inbox: Option<Inbox>,
}

impl ReplyTo {
    /// A channel for one answer, delivered through the calling thread's inbox where it has one.
    pub(crate) fn channel() -> (Self, oneshot::Receiver<Reply>) {
        let (reply, answer) = oneshot::channel();
        let inbox = this_threads_inbox();
        (Self { reply, inbox }, answer)
    }

    /// Answers now, straight to the handler, without waiting for the rest of a commit's answers.
    pub(crate) fn send_now(self, reply: Reply) {
        let _ = self.reply.send(reply);
    }
}

/// The calling thread's inbox, started on first use. Only a current-thread runtime has one: its
/// reading task then runs on the thread of the handlers it answers. On a multi-thread runtime
/// the task could run on any thread, so answers go straight to the handler.
fn this_threads_inbox() -> Option<Inbox> {
    let runtime = Handle::try_current().ok()?;
    if runtime.runtime_flavor() != RuntimeFlavor::CurrentThread {
        return None;
    }
    INBOX.with_borrow_mut(|inbox| {
        // Closed once the runtime that ran its task is gone: a thread may run one after another.
        if inbox.as_ref().is_none_or(Inbox::is_closed) {
            let (post, letters) = mpsc::unbounded_channel();
            runtime.spawn(deliver(letters));
            *inbox = Some(post);
        }
        inbox.clone()
    })
}

async fn deliver(mut inbox: mpsc::UnboundedReceiver<Vec<Letter>>) {
    while let Some(letters) = inbox.recv().await {
        for (reply, answer) in letters {
            let _ = reply.send(answer);
        }
    }
}

/// A commit's answers, gathered by inbox: [`Post::send`] sends one message to each.
#[derive(Debug, Default)]
pub(crate) struct Post {
    bags: Vec<(Inbox, Vec<Letter>)>,
}

impl Post {
    pub(crate) fn add(&mut self, to: ReplyTo, answer: Reply) {
        let Some(inbox) = to.inbox else {
            return to.send_now(answer);
        };
        match self.bags.iter_mut().find(|(i, _)| i.same_channel(&inbox)) {
            Some((_, letters)) => letters.push((to.reply, answer)),
            None => self.bags.push((inbox, vec![(to.reply, answer)])),
        }
    }

    pub(crate) fn send(self) {
        for (inbox, letters) in self.bags {
            if let Err(mpsc::error::SendError(letters)) = inbox.send(letters) {
                // Its task has gone with its runtime, and so, most likely, have the handlers.
                for (reply, answer) in letters {
                    let _ = reply.send(answer);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::Written;

    fn answer(n: usize) -> Reply {
        (Ok(vec![Written::Duplicate; n]), Vec::new())
    }

    /// Three answers for one inbox travel as one message, in order; an answer without an inbox
    /// is delivered at once.
    #[test]
    fn a_commit_posts_one_message_per_inbox() {
        let (inbox, mut letters) = mpsc::unbounded_channel();
        let mut waiting = Vec::new();
        let mut post = Post::default();
        for n in 1..=3 {
            let (reply, answer_rx) = oneshot::channel();
            waiting.push(answer_rx);
            let to = ReplyTo {
                reply,
                inbox: Some(inbox.clone()),
            };
            post.add(to, answer(n));
        }
        let (direct, mut direct_rx) = ReplyTo::channel();
        assert!(direct.inbox.is_none(), "no runtime here, so no inbox");
        post.add(direct, answer(7));
        assert_eq!(direct_rx.try_recv().unwrap().0.unwrap().len(), 7);
        post.send();
        let message = letters.try_recv().unwrap();
        assert!(
            letters.try_recv().is_err(),
            "one message, not one per answer"
        );
        assert_eq!(message.len(), 3);
        for (reply, answer) in message {
            reply.send(answer).unwrap();
        }
        for (n, mut rx) in (1..=3).zip(waiting) {
            assert_eq!(rx.try_recv().unwrap().0.unwrap().len(), n);
        }
    }

    /// On a current-thread runtime, answers posted from another thread reach the handlers
    /// through the thread's inbox; a later runtime on the same thread gets an inbox of its own.
    #[test]
    fn answers_from_another_thread_arrive_through_the_inbox() {
        for round in 0..2 {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                let (to_a, a) = ReplyTo::channel();
                let (to_b, b) = ReplyTo::channel();
                let inbox = to_a
                    .inbox
                    .clone()
                    .expect("an inbox on a current-thread runtime");
                assert!(inbox.same_channel(to_b.inbox.as_ref().unwrap()));
                assert!(!inbox.is_closed(), "round {round}: the inbox's task runs");
                std::thread::spawn(move || {
                    let mut post = Post::default();
                    post.add(to_a, answer(1));
                    post.add(to_b, answer(2));
                    post.send();
                })
                .join()
                .unwrap();
                assert_eq!(a.await.unwrap().0.unwrap().len(), 1);
                assert_eq!(b.await.unwrap().0.unwrap().len(), 2);
            });
        }
    }

    /// A multi-thread runtime's handlers are answered directly.
    #[test]
    fn a_multi_thread_runtime_has_no_inbox() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        runtime.block_on(async { assert!(ReplyTo::channel().0.inbox.is_none()) });
    }
}
