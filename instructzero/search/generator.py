"""The white-box step: soft prompts → natural-language instructions.

The open model reads ``[E ; embed(text)]`` where ``E`` are the projected soft
tokens and ``text`` holds κ input/output exemplars followed by "The instruction
was to" (Chen et al., 2024, Sec. 3.1), and completes the sentence greedily.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor
from tqdm.auto import tqdm
from transformers import StoppingCriteria

from instructzero.config.whitebox import WhiteBoxConfig
from instructzero.data.task import Example
from instructzero.models.loading import LoadedModel, load_causal_lm
from instructzero.search.projection import SoftPromptProjection

INSTRUCTION_PREFIX = "The instruction was to"
#: Greedy completions are cut here: the reference budget for one instruction.
DEFAULT_MAX_NEW_TOKENS = 64
#: The forward-generation preamble of APE (Zhou et al., 2023), `template: ape`: it tells a small model
#: what the demonstrations are for, so that it describes the mapping instead of continuing the data.
APE_PREAMBLE = (
    "I gave a friend an instruction and {n} inputs. The friend read the instruction and wrote an output for every"
    " one of the inputs. Here are the input-output pairs:\n\n"
)

#: How the white box reads one of the user's instructions (`whitebox.show_instructions`).
DRAFT_LINE = "\n\nA first draft of the instruction was: {draft}"

_FIRST_SENTENCE = re.compile(r"^(.*?[.!?])(?=\s|$)")
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def exemplar_prompt(
    exemplars: Sequence[Example], template: str = "plain", start: str = "", drafts: Sequence[str] = ()
) -> str:
    """The text after the soft tokens: κ demonstrations, then the sentence to complete.

    `plain` is the reference's (demonstrations only); `ape` adds APE's preamble before them. `start`, the
    first words of every instruction (e.g. "output"), follows "The instruction was to". `drafts`, the user's
    own instructions (`whitebox.show_instructions`), come after the demonstrations as a first draft.
    """
    demos = "\n\n".join(f"Input: {ex.input}\nOutput: {ex.output}" for ex in exemplars)
    if template == "ape":
        n = len(exemplars)
        demos = APE_PREAMBLE.format(n=_NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else n) + demos
    elif template != "plain":
        raise ValueError(f"unknown generation template '{template}' (use 'plain' or 'ape')")
    for draft in drafts:
        demos += DRAFT_LINE.format(draft=draft)
    return f"{demos}\n\n{INSTRUCTION_PREFIX}" + (f" {start.strip()}" if start.strip() else "")


def split_lead(text: str) -> tuple[str, str]:
    """An exemplar prompt cut before "The instruction was to": (the demonstrations, the sentence begun)."""
    body, sep, lead = text.rpartition(INSTRUCTION_PREFIX)
    return (body.rstrip(), sep + lead) if sep else (text, "")


def is_degenerate(instruction: str) -> bool:
    """A repeated phrase (a word 3-gram seen twice) or no sentence end (cut at the token limit)."""
    words = instruction.lower().split()
    trigrams = list(zip(words, words[1:], words[2:]))
    return len(set(trigrams)) < len(trigrams) or not instruction.rstrip().endswith((".", "!", "?"))


def postprocess_instruction(completion: str) -> str:
    """Prefix "The instruction was to", cut at a line break or "Comment:", keep the first sentence."""
    text = f"{INSTRUCTION_PREFIX} {completion.strip()}".strip()
    text = text.split("\n")[0].split("Comment:")[0].strip()
    match = _FIRST_SENTENCE.match(text)
    return " ".join((match.group(1) if match else text).split())


def in_form(instruction: str, form: str) -> str:
    """A post-processed instruction in the form handed to the black box: `description`, as generated ("The
    instruction was to find the opposite of a word.", the reference), or `imperative` ("Find the opposite of a
    word."), which a chat model follows more literally."""
    if form == "description":
        return instruction
    if form != "imperative":
        raise ValueError(f"unknown instruction form '{form}' (use 'description' or 'imperative')")
    body = instruction.removeprefix(INSTRUCTION_PREFIX).strip()
    return body[:1].upper() + body[1:] if body else instruction


#: Instructions generated in this process (greedy decoding is a function of its inputs): a run that generates
#: from the same soft prompts as an earlier one (e.g. benchmark methods that differ only after the search) costs
#: no white-box time.
_GENERATED: dict[tuple, str] = {}

_CUT = re.compile(r"\n|Comment:|[.!?]\s")


class FirstSentenceDone(StoppingCriteria):
    """Stops each sequence once :func:`postprocess_instruction`'s cut is decided: its new text (after
    `prompt_length` tokens) holds a line break, "Comment:" or a sentence end followed by whitespace.
    Everything generated after that is cut away anyway, so the instructions are the same as with the
    full `max_new_tokens` (greedy or sampled: earlier tokens never depend on later ones); a small white
    box usually writes one sentence in a third of its 64-token budget.
    """

    def __init__(self, tokenizer, prompt_length: int = 0) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Tensor, scores: Tensor, **kwargs) -> Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length :], skip_special_tokens=True)
        return torch.tensor([_CUT.search(t.lstrip()) is not None for t in texts], device=input_ids.device)


class InstructionGenerator:
    """Batched instruction generation from soft prompts with a Hugging Face causal LM.

    Example:
        >>> lm = load_causal_lm("smollm2")
        >>> gen = InstructionGenerator(lm, draw_projection(10, 5, lm.hidden_size, seed=0))
        >>> gen.generate(torch.zeros(2, 10), exemplar_prompt(task.exemplars(5, seed=0)))
    """

    def __init__(
        self,
        lm: LoadedModel,
        projection: SoftPromptProjection,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        batch_size: int = 8,
        use_chat_template: bool = False,
        no_repeat_ngram_size: int = 0,
    ) -> None:
        if projection.hidden != lm.hidden_size:
            raise ValueError(
                f"projection width {projection.hidden} does not match model '{lm.name}' ({lm.hidden_size}); "
                "sample the projection for this model"
            )
        self.lm = lm
        self.projection = projection
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.use_chat_template = use_chat_template
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self._matrix_digest: str | None = None

    @classmethod
    def from_config(cls, whitebox: WhiteBoxConfig, projection: SoftPromptProjection) -> InstructionGenerator:
        """The configured white box (loaded once per process) behind `projection`."""
        lm = load_causal_lm(whitebox.model, whitebox.gguf_file, whitebox.device)
        return cls(lm, projection, whitebox.max_new_tokens, whitebox.batch_size, whitebox.use_chat_template,
                   whitebox.no_repeat_ngram_size)  # fmt: skip

    def format_text(self, text: str) -> str:
        """Optionally wrap the exemplars in the model's chat template, ending mid-answer."""
        if not self.use_chat_template:
            return text
        body, lead = split_lead(text)
        chat = self.lm.tokenizer.apply_chat_template(
            [{"role": "user", "content": body}], tokenize=False, add_generation_prompt=True
        )
        return f"{chat}{lead}"

    @torch.inference_mode()
    def generate(
        self, soft_prompts: Tensor, text: str | Sequence[str], progress: bool = False
    ) -> list[str]:
        """Instructions for an `n x d`-dim Tensor of soft prompts.

        Args:
            soft_prompts: `n x d`-dim Tensor with entries in [-1, 1].
            text: The exemplar prompt, shared by all rows or one per row.
            progress: Show a progress bar over batches.

        Returns:
            `n` post-processed instructions (none for `n = 0`: a round after the run stopped).
        """
        texts = [text] * len(soft_prompts) if isinstance(text, str) else list(text)
        if len(texts) != len(soft_prompts):
            raise ValueError(f"{len(texts)} texts for {len(soft_prompts)} soft prompts: give one per soft prompt")
        keys = [self._key(p, t) for p, t in zip(soft_prompts, texts)]
        todo = [i for i, key in enumerate(keys) if key not in _GENERATED]
        starts = range(0, len(todo), self.batch_size)
        for start in tqdm(starts, desc="white box", unit="batch", disable=not progress):
            rows = todo[start : start + self.batch_size]
            completions = self._complete(soft_prompts[rows], [texts[i] for i in rows])
            for i, completion in zip(rows, completions):
                # The words the prompt already began the instruction with (`whitebox.instruction_start`) belong to it.
                lead = split_lead(texts[i])[1].removeprefix(INSTRUCTION_PREFIX)
                _GENERATED[keys[i]] = postprocess_instruction(lead + completion)
        return [_GENERATED[key] for key in keys]

    def _key(self, soft_prompt: Tensor, text: str) -> tuple:
        """What a greedy instruction depends on: the model, A, the soft prompt, the text and the decoding."""
        if self._matrix_digest is None:
            self._matrix_digest = hashlib.sha256(self.projection.matrix.numpy().tobytes()).hexdigest()
        return (self.lm.name, id(self.lm.model), self._matrix_digest, soft_prompt.double().numpy().tobytes(), text,
                self.max_new_tokens, self.no_repeat_ngram_size, self.use_chat_template)  # fmt: skip

    def _complete(self, soft_prompts: Tensor, texts: list[str]) -> list[str]:
        model, tokenizer, device = self.lm.model, self.lm.tokenizer, self.lm.device
        embed = model.get_input_embeddings()
        enc = tokenizer([self.format_text(t) for t in texts], return_tensors="pt", padding=True).to(device)
        text_embeds = embed(enc.input_ids)
        soft = self.projection.project(soft_prompts.to(device=device)).to(text_embeds.dtype)
        embeds = torch.cat([soft, text_embeds], dim=1)
        mask = torch.cat([torch.ones(soft.shape[:2], dtype=enc.attention_mask.dtype, device=device), enc.attention_mask], 1)
        # Left padding put the pads between soft tokens and text; a stable sort on
        # the mask moves them to the front and keeps every row's order.
        order = torch.argsort(mask, dim=1, stable=True)
        embeds = torch.gather(embeds, 1, order.unsqueeze(-1).expand_as(embeds))
        mask = torch.gather(mask, 1, order)
        with warnings.catch_warnings():  # the n-gram rule applies to new tokens only, which is what we want
            warnings.filterwarnings("ignore", message="Passing `no_repeat_ngram_size` with `inputs_embeds`")
            output = model.generate(
                inputs_embeds=embeds,
                attention_mask=mask,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                no_repeat_ngram_size=self.no_repeat_ngram_size,
                pad_token_id=tokenizer.pad_token_id,
                stopping_criteria=[FirstSentenceDone(tokenizer)],
            )
        return tokenizer.batch_decode(output, skip_special_tokens=True)


def instructions_from_soft_prompts(
    whitebox: WhiteBoxConfig, projection: SoftPromptProjection, soft_prompts: Tensor, text: str, progress: bool = False
) -> list[str]:
    """One round's instructions: `n` for an `n x d`-dim Tensor of soft prompts.

    An empty batch (`n = 0`, a round after the run stopped) returns no instructions
    without loading the model.
    """
    if len(soft_prompts) == 0:
        return []
    return InstructionGenerator.from_config(whitebox, projection).generate(soft_prompts, text, progress=progress)
