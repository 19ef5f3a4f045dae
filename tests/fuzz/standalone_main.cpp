// standalone_main.cpp: runs a libFuzzer target without libFuzzer (GCC
// builds): every file given, every file in every directory given, and with
// `--random N` also N inputs made by mutating those (bit flips, inserted,
// deleted and duplicated bytes, splices) with a seeded generator. The seed is
// printed; `--seed S` repeats a run exactly.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void collect(const std::string& path, std::vector<std::string>& corpus) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return;
  if (!S_ISDIR(st.st_mode)) {
    corpus.push_back(read_all(path));
    return;
  }
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr)
    return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.')
      names.push_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names)
    collect(path + "/" + n, corpus);
}

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                         input.size());
}

std::string mutate(std::string s, const std::vector<std::string>& corpus,
                   std::mt19937_64& rng) {
  constexpr size_t max_len = 4096;
  int steps = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < steps; ++i) {
    switch (rng() % 6) {
    case 0: // flip a bit
      if (!s.empty())
        s[rng() % s.size()] ^= static_cast<char>(1u << (rng() % 8));
      break;
    case 1: // insert a random byte
      if (s.size() < max_len)
        s.insert(s.begin() + static_cast<long>(rng() % (s.size() + 1)),
                 static_cast<char>(rng() % 256));
      break;
    case 2: // delete a range
      if (!s.empty()) {
        size_t at = rng() % s.size();
        s.erase(at, 1 + rng() % (s.size() - at));
      }
      break;
    case 3: // duplicate a range
      if (!s.empty() && s.size() < max_len) {
        size_t at = rng() % s.size();
        s.insert(at, s.substr(at, 1 + rng() % 16));
      }
      break;
    case 4: // splice with another corpus entry
      if (!corpus.empty()) {
        const auto& other = corpus[rng() % corpus.size()];
        s = s.substr(0, s.empty() ? 0 : rng() % s.size()) +
            other.substr(other.empty() ? 0 : rng() % other.size());
      }
      break;
    case 5: // an interesting byte
      if (!s.empty()) {
        const char interesting[] = {'\0', '\'', '"', '\\', '\n', '/',   '=',
                                    '#',  '.',  '-', 'x',  '9',  '\xff'};
        s[rng() % s.size()] = interesting[rng() % sizeof interesting];
      }
      break;
    }
  }
  if (s.size() > max_len)
    s.resize(max_len);
  return s;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> corpus;
  long random_runs = 0;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--random" && i + 1 < argc)
      random_runs = std::atol(argv[++i]);
    else if (a == "--seed" && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else
      collect(a, corpus);
  }
  for (const auto& input : corpus)
    run(input);
  std::mt19937_64 rng(seed);
  for (long i = 0; i < random_runs; ++i) {
    std::string base =
        corpus.empty() ? std::string() : corpus[rng() % corpus.size()];
    run(mutate(std::move(base), corpus, rng));
  }
  std::printf("%zu corpus inputs and %ld mutated inputs ran without a crash "
              "(seed %llu)\n",
              corpus.size(), random_runs,
              static_cast<unsigned long long>(seed));
  return 0;
}
