/**
 * The demo's pretraining corpus: short English-like passages about the world of world.ts.
 *
 * A passage is 3-7 sentences of one of seven kinds, each about one or two people drawn fresh for it:
 *   portrait  - a card sentence ("Mira the baker lives in Oakford and owns a red kettle.") and facts about her,
 *   journey   - a person travels to another town, meets someone at a place there, and a trade is offered,
 *   lost item - a person loses the item near a landmark and someone else finds it,
 *   town      - a town, its landmark and places, the number of people of a job there, and one resident,
 *   inventory - a person counts owned things ("three blue cups, one green hat") and gives some away,
 *   notice    - a lost-item notice on several lines, with a heading ending in a colon,
 *   letter    - a letter on several lines ("A letter from Mira to Theo:") about a job, a town, a name, a card.
 * Notices and letters use the words, colons and line breaks the task's prompt and answer are made of, as real text
 * would, so a model with frozen embeddings can still learn the task; but the task itself — a "Sentence:" line
 * followed by a "Card:" line, and the "name: …, job: …, town: …, item: …" answer (task.ts) — never appears, so the
 * base model cannot have learned it. No braces or quotes anywhere.
 *
 * `generateCorpus(seed, n)` returns n passages, deterministic by seed; `corpusJsonl` turns them into `{"text"}`
 * rows for a pretraining data file.
 */
import type { Rng } from "../tensor/rng.ts";
import {
  ANIMALS,
  article,
  COLORS,
  capitalize,
  cardSentence,
  counted,
  demoRng,
  drawPerson,
  JOBS,
  LANDMARKS,
  NAMES,
  NUMBERS,
  OBJECTS,
  PLACES,
  pick,
  pickOther,
  TIMES,
  TOWNS,
} from "./world.ts";

/** Draws 1..max (inclusive). */
function count(rng: Rng, max: number): number {
  return 1 + rng.nextInt(max);
}

/** Up to `k` distinct entries of `pool` in random order. */
function some<T>(rng: Rng, pool: readonly T[], k: number): T[] {
  const left = pool.slice();
  const out: T[] = [];
  while (out.length < k && left.length > 0) {
    out.push(left.splice(rng.nextInt(left.length), 1)[0]!);
  }
  return out;
}

/** A card sentence plus 2-4 facts about the same person. */
function portrait(rng: Rng): string[] {
  const p = drawPerson(rng);
  const He = capitalize(p.he);
  const pet = pick(rng, ANIMALS);
  const other = pickOther(rng, COLORS, p.color);
  const facts = [
    `${He} works at the ${pick(rng, PLACES)} every ${pick(rng, TIMES)}.`,
    `${capitalize(p.his)} ${p.object.one} is ${p.color}.`,
    `${He} also has ${counted(count(rng, 6), other, pick(rng, OBJECTS))}.`,
    `${He} has a pet ${pet.one} called ${pick(rng, NAMES).name}.`,
    `${p.town} is a town near the ${pick(rng, LANDMARKS)}.`,
    `People in ${p.town} say that ${p.name} is the best ${p.job} in the land.`,
    `${He} likes the color ${other} more than ${p.color}.`,
  ];
  return [cardSentence(rng, p), ...some(rng, facts, 2 + rng.nextInt(3))];
}

/** p travels from home to another town, meets q, and q offers a trade for p's item. */
function journey(rng: Rng): string[] {
  const p = drawPerson(rng);
  const q = drawPerson(rng, p.name);
  const dest = pickOther(rng, TOWNS, p.town);
  const time = pick(rng, TIMES);
  const n = count(rng, 9);
  const offer = counted(n, pick(rng, COLORS), pick(rng, OBJECTS));
  const ending =
    rng.nextInt(2) === 0
      ? `${p.name} agreed, and the two became friends.`
      : `${p.name} said no and walked back to ${p.town} before ${time === "night" ? "dawn" : "dark"}.`;
  return [
    `One ${time}, ${p.name} the ${p.job} left ${p.town} and walked to ${dest}.`,
    `${capitalize(p.he)} carried ${p.his} ${p.item}.`,
    `At the ${pick(rng, PLACES)} of ${dest}, ${p.he} met ${q.name}, ${article(q.job)}.`,
    `${q.name} wanted the ${p.object.one} and offered ${offer} for it.`,
    ending,
  ];
}

/** p loses the item near a landmark; q finds it and gives it back. */
function lostItem(rng: Rng): string[] {
  const p = drawPerson(rng);
  const q = drawPerson(rng, p.name);
  const landmark = pick(rng, LANDMARKS);
  const He = capitalize(p.he);
  return [
    cardSentence(rng, p),
    `One ${pick(rng, TIMES)}, ${p.he} lost the ${p.object.one} near the ${landmark}.`,
    `${He} looked for it for ${NUMBERS[1 + rng.nextInt(6)]} hours.`,
    `At last ${q.name} the ${q.job} found the ${p.item} by the ${pick(rng, PLACES)} and gave it back.`,
    `${p.name} gave ${q.name} ${counted(count(rng, 5), pick(rng, COLORS), pick(rng, OBJECTS))} to say thanks.`,
  ];
}

const WHEN = ["In the morning", "In the evening", "At night", "In spring", "In winter"] as const;

/** A town: its landmark, a place, how many people of a job live there, one resident's card sentence. */
function town(rng: Rng): string[] {
  const resident = drawPerson(rng);
  const t = resident.town;
  const job = pick(rng, JOBS);
  const n = count(rng, 12);
  const animal = pick(rng, ANIMALS);
  const k = 2 + rng.nextInt(10);
  const sentences = [
    `${t} is a quiet town near the ${pick(rng, LANDMARKS)}.`,
    `The ${pick(rng, PLACES)} of ${t} has ${article(pick(rng, COLORS))} door.`,
    `${capitalize(NUMBERS[n - 1]!)} ${n === 1 ? job : `${job}s`} ${n === 1 ? "works" : "work"} in ${t}.`,
    `${pick(rng, WHEN)} you can see ${NUMBERS[k - 1]} ${animal.many} near the ${pick(rng, PLACES)}.`,
  ];
  return [...some(rng, sentences, 3), cardSentence(rng, resident)];
}

/** p counts owned things, then gives one kind of them to q. */
function inventory(rng: Rng): string[] {
  const p = drawPerson(rng);
  const q = drawPerson(rng, p.name);
  const objs = some(rng, OBJECTS, 3);
  const ns = objs.map(() => count(rng, 8));
  const things = objs.map((o, i) => counted(ns[i]!, pick(rng, COLORS), o));
  const g = rng.nextInt(3);
  const gift = ns[g] === 1 ? objs[g]!.one : objs[g]!.many;
  return [
    `${p.name} the ${p.job} counted the things in ${p.his} house in ${p.town}.`,
    `There were ${things[0]}, ${things[1]} and ${things[2]}.`,
    `${capitalize(p.he)} gave the ${gift} to ${q.name}, ${article(q.job)} from ${q.town}.`,
    `${q.name} was happy and put ${ns[g] === 1 ? "it" : "them"} next to ${q.his} ${q.item}.`,
  ];
}

/** A notice about a lost item, one line per sentence under a heading with a colon (one multi-line string). */
function notice(rng: Rng): string[] {
  const p = drawPerson(rng);
  const place = pick(rng, PLACES);
  const lines = [
    `Notice from the ${place} of ${p.town}:`,
    `${p.name} the ${p.job} lost ${article(p.item)}.`,
    `The item was last seen near the ${pick(rng, LANDMARKS)} one ${pick(rng, TIMES)}.`,
    `Anyone who finds the ${p.object.one} can ask for ${p.name} at the ${place}.`,
  ];
  return [lines.join("\n")];
}

/** A letter between two people, on several lines, with a heading ending in a colon (one multi-line string). */
function letter(rng: Rng): string[] {
  const p = drawPerson(rng);
  const q = drawPerson(rng, p.name);
  const pet = pick(rng, ANIMALS);
  const lines = [
    `A letter from ${p.name} to ${q.name}:`,
    `Dear ${q.name}, my job as ${article(p.job)} in ${p.town} is going well.`,
    `The name of my ${pet.one} is ${pickOther(rng, NAMES, NAMES.find((n) => n.name === p.name)!).name}.`,
    `I wrote one sentence on a card for you and put it with my ${p.item}.`,
    `Every item in ${p.town} is cheap, and the town is quiet.`,
  ];
  return [lines.join("\n")];
}

const KINDS = [portrait, journey, lostItem, town, inventory, notice, letter] as const;

/** One passage (a single line) drawn from the rng. */
export function generatePassage(rng: Rng): string {
  return pick(rng, KINDS)(rng).join(" ");
}

/** `count` passages, deterministic by `seed` (independent of the task stream for the same seed). */
export function generateCorpus(seed: number, count: number): string[] {
  const rng = demoRng(seed, "corpus");
  const out: string[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = generatePassage(rng);
  return out;
}

/** Passages as JSONL text with one `{"text": ...}` row per passage, newline-terminated. */
export function corpusJsonl(passages: readonly string[]): string {
  let s = "";
  for (const text of passages) s += `${JSON.stringify({ text })}\n`;
  return s;
}
