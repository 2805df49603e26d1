#!/usr/bin/env python3
"""Goldens for the tokenizer, made by HuggingFace `tokenizers` (PyPI).

Writes under tests/oracle/goldens/tokenizer/:
  got-r1-added-tokens.json  the added_tokens of a GoT-R1 test tokenizer: the DeepSeek-LLM one
                            (tests/data/deepseek-llm/tokenizer.json) plus Janus's special tokens
                            and GoT-R1's four box/obj tokens, ids assigned by HF itself
  sp-bpe.json, bl-bpe.json, wp-bpe.json
                            three more tokenizers trained here, deterministically: a
                            SentencePiece-style one (Metaspace, byte_fallback, Split behaviours),
                            a byte-level one (NFC+Lowercase, ByteLevel regex, Digits) and one with
                            the remaining components (unk, ##-prefix, </w>-suffix, ...)
  <name>.jsonl              20,000 seeded random strings per tokenizer: {"t": text, "i": ids without
                            the post-processor, "I": ids with it (about one string in 40), "d":
                            decode(i) keeping special tokens (absent when equal to t), "s":
                            decode(i) skipping them (absent when equal to d)}
  got-r1-prompt.json        the GoT-R1 prompt of MODEL.md 1.2 and the ids HF gives for it
"""
import json
import os
import random
import sys
import unicodedata

from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers,
                        pre_tokenizers, processors)

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "oracle", "goldens", "tokenizer")
DEEPSEEK = os.path.join(ROOT, "tests", "data", "deepseek-llm", "tokenizer.json")
SEED = 20261127
N_STRINGS = 20000  # for the GoT-R1 tokenizer
N_SMALL = 5000  # for each of the trained tokenizers

JANUS_SPECIAL = ["<｜▁pad▁｜>", "<begin_of_image>", "<end_of_image>", "<image_placeholder>",
                 "<patch_placeholder>", "<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>",
                 "<|grounding|>", "<|User|>", "<|Assistant|>"]
GOT_TOKENS = ["<|box_start|>", "<|box_end|>", "<|obj_start|>", "<|obj_end|>"]

WHITESPACE = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "\u2000", "\u2003",
              "\u2009", "\u200a", "\u3000", "\u0085", "\u2028", "\u2029", "\u000b", "\u000c",
              "\u1680", "\u202f", "\u205f", " \t ", "\u200b"]
ASCII_WORDS = ["the", "a", "vase", "Tulip", "RED", "painting", "of", "and", "it's", "we'll",
               "don't", "x", "Hello", "world", "box", "(36,66),(907,694)", "e.g.", "i.e.,",
               "snake_case", "CamelCase", "https://example.com/a?b=c", "#1", "$5.00", "50%",
               "a-b", "--", "...", "!!", "?!", "(", ")", "[x]", "{y}", "<tag>", "C++", "@user"]
SCRIPTS = {
    "latin1": "àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßµ¡¿«»§°±²³¹½¼¾",
    "greek": "αβγδεζηθικλμνξοπρσςτυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώϊϋΐΰ",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯіїєґ",
    "cjk": "的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坐集编宝谈府拉黑且随格尽剑讲布杀微怕母调局根曾准团段终乐切级克精哪官示冷域",
    "hangul": "가나다라마바사아자차카타파하한국어말글요리학교사람세상시간오늘내일우리모두좋은안녕하세요감사합니다",
    "digits": "0123456789٠١٢٣٤٥٦٧٨٩०१२३४५६७८९²³¹½ⅣⅫ①⑩０１２",
    "marks": "\u0301\u0300\u0308\u0327\u0303\u030a\u0323\u0331\u0652\u05b4\u093e\u0e31\u20dd",
    "punct": "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~“”‘’«»—–…。、，！？：；（）【】《》「」・",
    "misc": "€£¥©®™°←→↑↓∞≈≠≤≥∑√∫♠♣♥♦★☆♪♫☺ﬁﬂ㎏㍿Ⅸⅹ",
    "emoji": "😀😃😄😁😆😅😂🤣😊😇🙂🙃😉😌😍🥰😘🦙🚀🌫️✅🔥💧🌍🎨🖼️🌷🏺",
}
ZWJ_EMOJI = ["👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "👩🏽\u200d🚀", "😶\u200d🌫️", "🧑\u200d🎨",
             "❤️\u200d🔥", "👍🏿", "🇫🇷", "🇯🇵"]


def rand_piece(rng, extra_tokens):
    kind = rng.random()
    if kind < 0.25:
        return rng.choice(ASCII_WORDS)
    if kind < 0.40:
        return rng.choice(WHITESPACE)
    if kind < 0.80:
        alphabet = SCRIPTS[rng.choice(sorted(SCRIPTS))]
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
    if kind < 0.86:
        return rng.choice(ZWJ_EMOJI)
    if kind < 0.94 and extra_tokens:
        return rng.choice(extra_tokens)
    if kind < 0.97:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 8)))
    return chr(rng.randint(0x20, 0x2FFF))


def rand_text(rng, extra_tokens):
    n = rng.randint(1, 6)
    parts = [rand_piece(rng, extra_tokens) for _ in range(n)]
    text = "".join(parts)
    # surrogates cannot be encoded; drop any (chr() above never makes them below 0x2FFF)
    return text


EDGE_CASES = ["", " ", "  ", "\n", "\r\n", "a", "  leading", "trailing  ", "x\u0301", "ñ",
              "İstanbul", "ﬁnal", "½", "ⅷ", "\u00a0\u00a0", "\u0085", "a\u0085b", "1234567890",
              "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\U0001F9D1\u200d\U0001F3A8",
              # long pieces: BPE switches from its scan to its heap past 64 symbols
              "你好" * 100, " " * 150 + "x", "ab" * 120, "aaaa" * 60, "🦙" * 70, "x" + "é" * 90]


def strings(seed, extra_tokens, n=N_STRINGS, keep=lambda t: True):
    rng = random.Random(seed)
    out = list(EDGE_CASES)
    for tok in extra_tokens:  # each added token mid-word, alone and doubled
        out += [f"ab{tok}cd", tok, f" {tok} ", f"{tok}{tok}", f"x {tok}y"]
    while len(out) < n:
        t = rand_text(rng, extra_tokens)
        if keep(t):
            out.append(t)
    return out[:n]


def old_marks_only(t):
    """HF's StripAccents knows the combining marks of an old Unicode version only; strings with a
    mark it keeps (one added to Unicode since) are left out of the wp-bpe goldens (a documented
    difference: gotflow strips every mark current Unicode knows)."""
    strip = normalizers.StripAccents()
    return all(not unicodedata.category(c).startswith("M") or strip.normalize_str(c) == ""
               for c in t)


def hash_every(t, every=40):
    """Picks about one string in `every`, the same way each run, for the with-specials check."""
    return sum(t.encode("utf-8")) % every == 0


def write_goldens(tok, name, texts):
    path = os.path.join(OUT, name + ".jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            ids = tok.encode(t, add_special_tokens=False).ids
            rec = {"t": t, "i": ids}
            if hash_every(t):
                rec["I"] = tok.encode(t, add_special_tokens=True).ids
            d = tok.decode(ids, skip_special_tokens=False)
            s = tok.decode(ids, skip_special_tokens=True)
            if d != t:
                rec["d"] = d
            if s != d:
                rec["s"] = s
            f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({len(texts)} strings, {os.path.getsize(path)} bytes)")


def got_r1():
    tok = Tokenizer.from_file(DEEPSEEK)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in JANUS_SPECIAL])
    tok.add_tokens(GOT_TOKENS)  # as GoT-R1's processor does: plain added tokens
    added = json.loads(tok.to_str())["added_tokens"]
    path = os.path.join(OUT, "got-r1-added-tokens.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(added, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {path} ({len(added)} added tokens)")
    extra = [a["content"] for a in added if a["id"] in (100000, 100001) or a["id"] > 100014]
    write_goldens(tok, "got-r1", strings(SEED, extra))
    caption = ("A vibrant still life painting featuring a bouquet of red tulips in a yellow vase, "
               "accompanied by a teal vase, all set on a colorful tablecloth with floral patterns")
    prompt = ("User: Follow the caption to generate an image through a chain of thought process: "
              + caption + "\n\nAssistant:")
    rec = {"caption": caption, "prompt": prompt, "ids": tok.encode(prompt).ids,
           "special": {t: tok.token_to_id(t) for t in
                       ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"] + JANUS_SPECIAL +
                       GOT_TOKENS}}
    path = os.path.join(OUT, "got-r1-prompt.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rec, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {path}")


def train_bpe(tok, texts, n_merges, specials, prefix="", suffix=""):
    """Learns merges the plain way, deterministically: the most frequent adjacent pair wins, ties
    go to the smaller pair. Words come from the tokenizer's own normalizer and pre-tokenizer."""
    words = {}
    for t in texts:
        if tok.normalizer is not None:
            t = tok.normalizer.normalize_str(t)
        for w, _ in tok.pre_tokenizer.pre_tokenize_str(t):
            words[w] = words.get(w, 0) + 1
    def symbols(w):
        out = [c if i == 0 else prefix + c for i, c in enumerate(w)]
        out[-1] += suffix
        return out
    split = {w: symbols(w) for w in sorted(words)}
    vocab = {}
    for tkn in specials + sorted({c for syms in split.values() for c in syms}):
        vocab.setdefault(tkn, len(vocab))
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for w, syms in split.items():
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + words[w]
        if not pairs:
            break
        (a, b), count = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if count < 2:
            break
        new = a + (b[len(prefix):] if prefix and b.startswith(prefix) else b)
        merges.append((a, b))
        vocab.setdefault(new, len(vocab))
        for w, syms in split.items():
            i, out = 0, []
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            split[w] = out
    return vocab, merges


def corpus(seed):
    rng = random.Random(seed)
    return [rand_text(rng, []) for _ in range(2500)]


def sp_bpe():
    """SentencePiece-style: NFKC, Split behaviours, Metaspace, byte_fallback, Llama decoders."""
    shell = Tokenizer(models.BPE())
    shell.normalizer = normalizers.Sequence([normalizers.NFKC(),
                                             normalizers.Replace(Regex(" {3,}"), "  "),
                                             normalizers.Strip(left=False, right=True)])
    shell.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"[!?.]+"), "merged_with_previous"),
        pre_tokenizers.Split(Regex(r"[(\[{]"), "merged_with_next"),
        pre_tokenizers.Split(Regex(r"\d"), "contiguous"),
        pre_tokenizers.Split("--", "removed"),
        pre_tokenizers.Split(Regex(r"\s+$"), "isolated", invert=False),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True),
    ])
    vocab, merges = train_bpe(shell, corpus(SEED + 1), 700, ["<unk>", "<s>", "</s>"])
    # byte_fallback needs the 256 <0xXX> pieces in the model vocab (not as added tokens); the
    # characters the training corpus never saw go through them
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True, fuse_unk=False))
    tok.normalizer = shell.normalizer
    tok.pre_tokenizer = shell.pre_tokenizer
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A </s> $B",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    tok.add_tokens([AddedToken("<|sep|>", lstrip=True, rstrip=True),
                    AddedToken("[WORD]", single_word=True),
                    AddedToken("ﬁx", normalized=True)])
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    return tok, ["<s>", "</s>", "<|sep|>", "[WORD]", "ﬁx", "fix", "<mask>"], None


def bl_bpe():
    """GPT-2 style: NFC + Lowercase, Digits, ByteLevel with its regex and a prefix space."""
    shell = Tokenizer(models.BPE())
    shell.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    shell.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])
    vocab, merges = train_bpe(shell, corpus(SEED + 2), 800, ["<|endoftext|>"])
    for c in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.normalizer = shell.normalizer
    tok.pre_tokenizer = shell.pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", 0)])
    tok.add_tokens([AddedToken("<Obj>", single_word=True, normalized=False),
                    AddedToken("Straße", normalized=True)])
    return tok, ["<|endoftext|>", "<Obj>", "Straße", "STRASSE", "straße"], None


def wp_bpe():
    """The rest: NFD, StripAccents, NFKD, WhitespaceSplit, Whitespace, Punctuation, unk with
    fuse_unk, continuing_subword_prefix, end_of_word_suffix, ignore_merges, RobertaProcessing,
    Metaspace decoder."""
    shell = Tokenizer(models.BPE())
    shell.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(),
                                             normalizers.NFKD()])
    shell.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                   pre_tokenizers.Punctuation("contiguous"),
                                                   pre_tokenizers.Whitespace()])
    texts = corpus(SEED + 3)
    vocab, merges = train_bpe(shell, texts[:1500], 500, ["[UNK]", "[CLS]", "[SEP]"], "##", "</w>")
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="[UNK]", fuse_unk=True,
                               continuing_subword_prefix="##", end_of_word_suffix="</w>",
                               ignore_merges=True))
    tok.normalizer = shell.normalizer
    tok.pre_tokenizer = shell.pre_tokenizer
    tok.decoder = decoders.Metaspace(replacement="#", prepend_scheme="always")
    tok.post_processor = processors.RobertaProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                      ("[CLS]", tok.token_to_id("[CLS]")))
    tok.add_special_tokens([AddedToken("[MASK]", lstrip=True, rstrip=True, special=True)])
    return tok, ["[CLS]", "[SEP]", "[MASK]", "[UNK]"], old_marks_only


def main():
    os.makedirs(OUT, exist_ok=True)
    got_r1()
    for name, make in (("sp-bpe", sp_bpe), ("bl-bpe", bl_bpe), ("wp-bpe", wp_bpe)):
        tok, extra, keep = make()
        path = os.path.join(OUT, name + ".json")
        tok.save(path, pretty=False)
        tok = Tokenizer.from_file(path)  # goldens come from the file as saved
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")
        texts = strings(SEED + 10 + len(name), extra, N_SMALL, keep or (lambda t: True))
        write_goldens(tok, name, texts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
